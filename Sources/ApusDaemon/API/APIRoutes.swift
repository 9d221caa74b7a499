import Hummingbird

/// Registers routes and remembers them, so a test can compare what the daemon serves with docs/openapi.yaml.
final class APIRoutes {
    let router: Router<DaemonRequestContext>
    private(set) var registered: [(method: String, path: String)] = []

    init(router: Router<DaemonRequestContext>) { self.router = router }

    func on(_ method: HTTPRequest.Method, _ path: String,
            use handler: @Sendable @escaping (Request, DaemonRequestContext) async throws -> Response) {
        router.on(RouterPath(path), method: method, use: handler)
        registered.append((method.rawValue, path))
    }
}
