"""HTTP routes, one module per resource; :mod:`services.scheduling.api` assembles them."""
