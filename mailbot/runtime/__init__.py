"""The running process: the daemon's loop and signals, the IDLE watcher, the heartbeat to
systemd (sd_notify, watchdog), the parse workers, logging and memory.

It sits on top of the use cases (``mailbot.usecases``) and wires them to time: nothing
here decides what a mail means.
"""
