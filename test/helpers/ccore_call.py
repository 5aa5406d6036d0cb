"""One unary call with grpcio (gRPC C-core), for tests of what non-grpc-js clients get.

usage: ccore_call.py <host:port> <method path> <request as hex> [<service config file>]
With a service config file (JSON, e.g. deploy/service-config.json), the
channel uses it as its default service config (`grpc.service_config`), so its
retryPolicy applies. Prints one JSON line: the status code name, the details,
and the grpc-status-details-bin trailer in base64 ("" when absent).
"""

import base64
import json
import sys

import grpc


def main() -> None:
    target, method, request_hex = sys.argv[1:4]
    options: list[tuple[str, str | int]] = []
    if len(sys.argv) > 4:
        with open(sys.argv[4], encoding="utf-8") as config:
            options.append(("grpc.service_config", config.read()))
    with grpc.insecure_channel(target, options=options) as channel:
        call = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            call(bytes.fromhex(request_hex), timeout=10)
            print(json.dumps({"code": "OK", "details": "", "statusDetails": ""}))
        except grpc.RpcError as error:
            trailers = dict(error.trailing_metadata() or ())
            details_bin = trailers.get("grpc-status-details-bin", b"")
            print(
                json.dumps(
                    {
                        "code": error.code().name,
                        "details": error.details() or "",
                        "statusDetails": base64.b64encode(details_bin).decode("ascii"),
                    }
                )
            )


if __name__ == "__main__":
    main()
