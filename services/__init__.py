"""The online-course platform: one package per Nameko service, plus the shared kernel."""
