"""Auth: accounts, passwords, and the only signer of access tokens."""
