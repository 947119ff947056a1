"""`python -m electroloop.workflows.prefect_server --host H --port P --allowed-host NAME…`: the
Prefect server `electroloop up` runs, with a Host-header check in front.

It is the app `prefect server start` serves (`prefect.server.api.server.create_app(final=True)`,
services, UI and API in one process: `prefect/cli/_server_utils.py`), wrapped in Starlette's
`TrustedHostMiddleware`. A server on loopback is still reachable from any web page the lab PC
opens through DNS rebinding (a hostile name that resolves to 127.0.0.1 makes the page
same-origin, so CORS does not apply); a request whose Host header is not one of the names the
server is meant to be reached by is refused with 400 before Prefect sees it. MLflow has the same
guard built in (`mlflow server --allowed-hosts`).

Authentication, when configured, is Prefect's own (`PREFECT_SERVER_API_AUTH_STRING`, read from
the environment `electroloop up` gives this process).
"""

from __future__ import annotations

import argparse

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True, help="address to listen on")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--allowed-host",
        action="append",
        required=True,
        help="a Host header the server answers (without port); repeat for each",
    )
    args = parser.parse_args(argv)

    import prefect
    import uvicorn
    from prefect.server.api.server import create_app
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    app = TrustedHostMiddleware(create_app(final=True), allowed_hosts=args.allowed_host)
    uvicorn.run(
        app,
        app_dir=str(prefect.__module_path__.parent),
        host=args.host,
        port=args.port,
        log_level=prefect.settings.PREFECT_SERVER_LOGGING_LEVEL.value().lower(),
    )


if __name__ == "__main__":
    main()
