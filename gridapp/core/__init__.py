"""The application core: factory, config, database session, problems, tokens, outbox, queue."""
