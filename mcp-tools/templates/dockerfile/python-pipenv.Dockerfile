RUN pip install --no-cache-dir {pipenv} && python -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH="/opt/venv/bin:$PATH"
{copy}
RUN pipenv install{deploy}
