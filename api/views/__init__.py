"""The platform API's views: thin doors over the services and selectors."""
