-- wrk script: the same form POST every time, from the environment.
-- WRK_BODY: the form body; WRK_AUTH: the Authorization header value.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("WRK_AUTH")
