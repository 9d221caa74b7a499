import Hummingbird

/// Times every request for the `apus_api_request_duration_seconds` histogram, labelled by route pattern (not the
/// concrete path, so VM ids do not multiply the series).
struct LatencyMiddleware: RouterMiddleware {
    typealias Context = DaemonRequestContext
    let metrics: DaemonMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        metrics.observeRequest(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                               status: Int(response.status.code), duration: ContinuousClock.now - start)
        return response
    }
}
