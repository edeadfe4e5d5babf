"""One router per resource: clients, applications, decisions."""
