"""The studio's page: Gradio components, their events and handlers. Uses demo.runtime, never the reverse."""
