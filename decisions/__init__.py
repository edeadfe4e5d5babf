"""The decision service: a FastAPI application that scores clients by id through the model
servers, explains a refusal in the client's words, proposes recourse, and keeps a
tamper-evident record of each advisor's final decision, for people with roles (advisor,
supervisor, client) and systems, with four eyes on overrides, signed checkpoints of the
record and a log of who read which client's data.

``decisions.app:create_app`` builds the application; nothing runs at import.
"""
