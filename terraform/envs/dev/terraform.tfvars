# The dev stage's settings that are not secret. account_id and image_tag come from the
# command line (the workflows pass -var account_id=... -var image_tag=<commit>).
# Replace the example domain with the stage's real one before the first apply.
web_origins       = ["https://dev.concertbook.example", "http://localhost:8000"]
mail_from_address = "tickets@dev.concertbook.example"
ses_identity      = "dev.concertbook.example"
alarm_emails      = ["oncall@concertbook.example"]
