import ApusAPI
import Hummingbird

/// `POST /v1/vms/{id}/clone` with `{"name": ...}`: a new inactive VM from a template (201), its writable disks
/// copy-on-write overlays of the template's images.
struct CloneRoutes {
    let registry: VMRegistry
    let audit: AuditLog

    func register(on routes: APIRoutes) {
        routes.on(.post, "/v1/vms/{id}/clone") { request, context in
            let template = try registry.find(context.parameters.require("id"))
            let body = try await RequestBody.decode(CloneRequest.self, from: request)
            let operationID = try OperationIDs.from(request.headers)
            return try await AuditedOperation.run("clone as \(body.name)", on: template, context: context, audit: audit,
                                                  operationID: operationID) {
                let clone = try await registry.clone(template, as: body.name, operationID: operationID)
                return try JSONResponse.make(clone.info, status: .created)
            }
        }
    }
}
