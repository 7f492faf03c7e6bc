RUN pip install --no-cache-dir {poetry} && python -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH" POETRY_NO_INTERACTION=1
{copy}
RUN poetry install --no-root --only main
