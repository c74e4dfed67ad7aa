"""Alerts to the owner: told when something needs them, once per problem per quiet period."""
