# Sourced by the ops scripts: the project's virtual environment (made by install-deps.sh) first on PATH, so that
# python3, moto_server, aws and pytest are the ones installed for this project.
export PATH="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv/bin:$PATH"
