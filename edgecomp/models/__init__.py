"""Model zoo and safe loading of users' models."""
