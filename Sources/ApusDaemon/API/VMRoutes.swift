import ApusAPI
import Hummingbird

/// `/v1/vms`: define, list, show, update (while inactive) and undefine.
struct VMRoutes {
    let registry: VMRegistry
    let audit: AuditLog

    func register(on routes: APIRoutes) {
        routes.on(.get, "/v1/vms") { _, _ in
            try JSONResponse.make(registry.all.map(\.info))
        }
        routes.on(.post, "/v1/vms") { request, context in
            let definition = try await RequestBody.decode(VMDefinition.self, from: request)
            let caller = await PeerCredentials.of(context.channel)
            do {
                let controller = try registry.define(definition)
                audit.record("define", vm: "\(definition.name) (\(controller.id))", caller: caller, result: "ok")
                return try JSONResponse.make(controller.info, status: .created)
            } catch {
                audit.record("define", vm: definition.name, caller: caller, result: "\(error)")
                throw error
            }
        }
        routes.on(.get, "/v1/vms/{id}") { _, context in
            try JSONResponse.make(try registry.find(context.parameters.require("id")).info)
        }
        routes.on(.put, "/v1/vms/{id}") { request, context in
            let controller = try registry.find(context.parameters.require("id"))
            let definition = try await RequestBody.decode(VMDefinition.self, from: request)
            let operationID = try OperationIDs.from(request.headers)
            return try await audited("update", controller, context, operationID) {
                try JSONResponse.make(try await registry.update(controller, to: definition, operationID: operationID))
            }
        }
        routes.on(.delete, "/v1/vms/{id}") { request, context in
            let controller = try registry.find(context.parameters.require("id"))
            let operationID = try OperationIDs.from(request.headers)
            return try await audited("undefine", controller, context, operationID) {
                try JSONResponse.make(try await registry.undefine(controller, operationID: operationID))
            }
        }
    }

    private func audited(_ operation: String, _ controller: VMController, _ context: DaemonRequestContext,
                         _ operationID: String, _ body: () async throws -> Response) async throws -> Response {
        try await AuditedOperation.run(operation, on: controller, context: context, audit: audit,
                                       operationID: operationID, body)
    }
}

/// Runs a lifecycle operation and writes its audit line, whatever the outcome; the response carries the
/// operation's id in its `Operation-Id` header.
enum AuditedOperation {
    static func run(_ operation: String, on controller: VMController, context: DaemonRequestContext, audit: AuditLog,
                    operationID: String, _ body: () async throws -> Response) async throws -> Response {
        let caller = await PeerCredentials.of(context.channel)
        let vm = "\(controller.name) (\(controller.id))"
        do {
            var response = try await body()
            response.headers[OperationIDs.header] = operationID
            audit.record(operation, vm: vm, caller: caller, result: "ok", operationID: operationID)
            return response
        } catch {
            audit.record(operation, vm: vm, caller: caller, result: "\(error)", operationID: operationID)
            throw error
        }
    }
}
