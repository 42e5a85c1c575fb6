"""The use cases: what the desk does, each in one transaction, on a ``Desk``.

Ingest new mail (``ingest``), apply what a mail means (``apply``, ``followup``,
``bounces``), queue and send mail (``mail_queue``, ``outbox``), remind and escalate
(``reminders``), change tickets by hand (``ticket_changes``, ``phone``, ``timesheet``),
and report (``reports``, ``views``, ``health``). They are the only code that reads the
clock; they call the pure core and the adapters, and know nothing of the running
process (``mailbot.runtime``) or the command line.
"""
