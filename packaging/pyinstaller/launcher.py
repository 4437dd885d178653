"""Entry point of the bundled app: the same `qwen3vl-agent` command, frozen."""

from qwen3vl_agent.cli.main import main

if __name__ == "__main__":
    main()
