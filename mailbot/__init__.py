"""mailbot: an e-mail support desk daemon (tickets, SLA deadlines, acknowledgements)."""

__version__ = "0.1.0"
