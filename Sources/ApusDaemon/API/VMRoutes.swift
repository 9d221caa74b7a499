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
            return try await audited("update", controller, context) {
                try JSONResponse.make(try await registry.update(controller, to: definition))
            }
        }
        routes.on(.delete, "/v1/vms/{id}") { _, context in
            let controller = try registry.find(context.parameters.require("id"))
            return try await audited("undefine", controller, context) {
                try JSONResponse.make(try await registry.undefine(controller))
            }
        }
    }

    private func audited(_ operation: String, _ controller: VMController, _ context: DaemonRequestContext,
                         _ body: () async throws -> Response) async throws -> Response {
        try await AuditedOperation.run(operation, on: controller, context: context, audit: audit, body)
    }
}

/// Runs a lifecycle operation and writes its audit line, whatever the outcome.
enum AuditedOperation {
    static func run(_ operation: String, on controller: VMController, context: DaemonRequestContext, audit: AuditLog,
                    _ body: () async throws -> Response) async throws -> Response {
        let caller = await PeerCredentials.of(context.channel)
        let vm = "\(controller.name) (\(controller.id))"
        do {
            let response = try await body()
            audit.record(operation, vm: vm, caller: caller, result: "ok")
            return response
        } catch {
            audit.record(operation, vm: vm, caller: caller, result: "\(error)")
            throw error
        }
    }
}
