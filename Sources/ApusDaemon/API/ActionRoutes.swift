import ApusAPI
import Hummingbird

/// `POST /v1/vms/{id}/<action>`: start, pause, resume, suspend, stop, reboot. Each answers the VM as it is afterwards,
/// or 409 with its state and the operations it allows.
struct ActionRoutes {
    static let actions: [VMOperation] = [.start, .pause, .resume, .suspend, .stop, .reboot]
    let registry: VMRegistry
    let audit: AuditLog

    func register(on routes: APIRoutes) {
        for operation in Self.actions {
            routes.on(.post, "/v1/vms/{id}/\(operation.rawValue)") { request, context in
                let controller = try registry.find(context.parameters.require("id"))
                let operationID = try OperationIDs.from(request.headers)
                return try await AuditedOperation.run(operation.rawValue, on: controller, context: context, audit: audit,
                                                      operationID: operationID) {
                    try JSONResponse.make(try await controller.perform(operation, operationID: operationID))
                }
            }
        }
    }
}
