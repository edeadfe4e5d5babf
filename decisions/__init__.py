"""The decision service: a FastAPI application that scores clients by id through the model
servers, explains a refusal in the client's words, proposes recourse, and keeps a
tamper-evident record of each advisor's final decision.

``decisions.app:create_app`` builds the application; nothing runs at import.
"""
