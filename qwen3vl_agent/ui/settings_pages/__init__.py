"""The settings dialog's pages, one module each (see `qwen3vl_agent.ui.settings_dialog`)."""
