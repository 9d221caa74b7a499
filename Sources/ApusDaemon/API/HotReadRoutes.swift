import ApusAPI
import HTTPTypes
import NIOCore

/// The two routes clients poll (`GET /v1/vms` and `GET /v1/vms/{id}`), answered on the connection's event loop
/// without a trip through Swift concurrency and the router: both only read the registry under its locks, never block,
/// and their answers are byte for byte what VMRoutes, ErrorMiddleware and LatencyMiddleware make of the same request
/// (the JSON of an unchanged VM comes from EncodedInfoCache).
struct HotReadRoutes: Sendable {
    let registry: VMRegistry
    let metrics: DaemonMetrics
    /// Each VM's JSON, encoded again only when its info changed.
    let encoded = EncodedInfoCache()

    struct Answer {
        var status: HTTPResponse.Status
        var body: ByteBuffer
        /// The route pattern, as the latency histogram labels it.
        var route: String
    }

    enum Route: Equatable {
        case list
        case vm(String)

        /// The pattern the latency histogram labels it with, as the router names it.
        var pattern: String {
            switch self {
            case .list: "/v1/vms"
            case .vm: "/v1/vms/{id}"
            }
        }
    }

    /// Which of these routes the request asks for; nil for any other, and for a path not spelled plainly enough to be
    /// sure the router would take it the same way (a query, percent escapes, a trailing slash go the ordinary way).
    static func route(of request: HTTPRequest) -> Route? {
        guard request.method == .get, let path = request.path else { return nil }
        if path == "/v1/vms" { return .list }
        let prefix = "/v1/vms/"
        guard path.hasPrefix(prefix) else { return nil }
        let id = path.utf8.dropFirst(prefix.utf8.count)
        guard !id.isEmpty, id.allSatisfy(isPlain) else { return nil }
        return .vm(String(Substring(id)))
    }

    func answer(_ route: Route) -> Answer {
        switch route {
        case .list:
            respond(route: route.pattern) { try encoded.listBody(for: registry.all.map(\.info)) }
        case .vm(let id):
            respond(route: route.pattern) { try encoded.body(for: try registry.find(id).info) }
        }
    }

    func observe(_ answer: Answer, duration: Duration) {
        metrics.observeRequest(method: "GET", route: answer.route, status: Int(answer.status.code), duration: duration)
    }

    private func respond(route: String, _ body: () throws -> ByteBuffer) -> Answer {
        do {
            return Answer(status: .ok, body: try body(), route: route)
        } catch let error as DaemonError {
            return Answer(status: .init(code: error.status), body: ErrorAnswer.body(error), route: route)
        } catch {
            let failure = DaemonError.internal("\(error)")
            return Answer(status: .init(code: failure.status), body: ErrorAnswer.body(failure), route: route)
        }
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            return true
        default:
            return false
        }
    }
}
