RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
{copy}
RUN pip install --no-cache-dir -r requirements.txt
