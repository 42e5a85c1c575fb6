"""The web side (issue 15): the Starlette app ``mailbot web`` serves.

A top layer beside ``cli`` and ``runtime``: handlers parse the request, call a use
case and render a page; no SQL and no decisions here. ``app.create_app`` builds
the app from a Desk; ``security`` holds the headers, cookies, CSRF and the client's
address; ``rendering`` the pages and the language; one module per page group
(``start``, ``monitoring``, ...) offers its ``routes()``; ``server`` runs it under
uvicorn.
"""
