"""Cases (案卷): intake, actions along the process definitions, the clock, history, queries."""
