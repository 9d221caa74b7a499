import ApusAPI
import Hummingbird
import Logging

/// Turns every error a route throws into the API's JSON error body, so clients parse one format only; anything
/// unexpected becomes a 500 with its description and is logged, and the daemon keeps serving.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = DaemonRequestContext
    /// The routes, to tell "no such path" (404) from "not with this method" (405 with Allow).
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as DaemonError {
            return try Self.response(for: error)
        } catch let error as any HTTPResponseError {
            let status = Int(error.status.code)
            let allowed = status == 404 ? routes.methods(forPath: request.uri.path) : []
            let daemonError: DaemonError = switch status {
            case 413: .payloadTooLarge(limit: ApusVersion.maximumRequestBodyBytes)
            case 404 where !allowed.isEmpty:
                .methodNotAllowed(method: request.method.rawValue, path: request.uri.path, allowed: allowed)
            case 404: .notFound("no such resource: \(request.method) \(request.uri.path)")
            case 400..<500: .badRequest("\(error)")
            default: .internal("\(error)")
            }
            if case .methodNotAllowed = daemonError { return try Self.response(for: daemonError) }
            return try Self.response(for: daemonError, statusOverride: status)
        } catch {
            context.logger.error("unexpected error on \(request.method) \(request.uri.path): \(error)")
            return try Self.response(for: .internal("\(error)"))
        }
    }

    static func response(for error: DaemonError, statusOverride: Int? = nil) throws -> Response {
        var body = error.body
        if let statusOverride { body.error.status = statusOverride }
        var response = try JSONResponse.make(body, status: HTTPResponse.Status(code: statusOverride ?? error.status))
        if case .methodNotAllowed(_, _, let allowed) = error {
            response.headers[.allow] = allowed.joined(separator: ", ")
        }
        return response
    }
}
