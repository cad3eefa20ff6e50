"""L9/X5: line authentication: the signed line headers and the development line gateway."""
