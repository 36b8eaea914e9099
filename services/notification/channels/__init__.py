"""Channel adapters behind one interface: email (SMTP), SMS (provider), signed webhooks."""
