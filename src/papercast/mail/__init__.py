"""Mail: templates rendered to messages, queued in the outbox, and the mailers that deliver them
(SMTP, `.eml` files, memory).
"""
