"""The naive inventory designs a team would otherwise pick, kept runnable so the rehearsal
can measure them side by side with ours (`CONCERTBOOK_INVENTORY_STRATEGY`). They are
correct — the store still fences every claim — just slow under an onsale's contention."""
