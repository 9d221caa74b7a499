import Hummingbird
import Synchronization

/// Registers routes and remembers them in `table`, so a test can compare what the daemon serves with
/// docs/openapi.yaml and a request with the wrong method on a known path gets 405 with the methods it takes.
final class APIRoutes {
    let router: Router<DaemonRequestContext>
    let table = RouteTable()

    init(router: Router<DaemonRequestContext>) { self.router = router }

    var registered: [(method: String, path: String)] { table.routes }

    func on(_ method: HTTPRequest.Method, _ path: String,
            use handler: @Sendable @escaping (Request, DaemonRequestContext) async throws -> Response) {
        router.on(RouterPath(path), method: method, use: handler)
        table.add(method: method.rawValue, path: path)
    }
}

/// The (method, path pattern) pairs served.
final class RouteTable: Sendable {
    private let entries = Mutex<[(method: String, path: String)]>([])

    var routes: [(method: String, path: String)] { entries.withLock { $0 } }

    func add(method: String, path: String) { entries.withLock { $0.append((method, path)) } }

    /// The methods registered for the pattern `path` matches ("{id}" matches one segment); empty if none.
    func methods(forPath path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        return entries.withLock { entries in
            entries.filter { route in
                let pattern = route.path.split(separator: "/", omittingEmptySubsequences: false)
                return pattern.count == segments.count && zip(pattern, segments).allSatisfy { expected, given in
                    (expected.hasPrefix("{") && !given.isEmpty) || expected == given
                }
            }.map(\.method)
        }
    }
}
