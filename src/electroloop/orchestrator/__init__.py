"""Campaign orchestration: campaign files, the event-sourced store, recipes and the closed loop."""
