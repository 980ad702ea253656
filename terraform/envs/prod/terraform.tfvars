# The prod stage's settings that are not secret. account_id and image_tag come from the
# command line (the workflows pass -var account_id=... -var image_tag=<commit>).
# Replace the example domain with the stage's real one before the first apply.
web_origins       = ["https://concertbook.example", "https://www.concertbook.example"]
mail_from_address = "tickets@concertbook.example"
ses_identity      = "concertbook.example"
alarm_emails      = ["oncall@concertbook.example"]

# Real card payments: seed the Toss keys before the first apply (docs/DEPLOY.md).
payment_provider = "toss"
