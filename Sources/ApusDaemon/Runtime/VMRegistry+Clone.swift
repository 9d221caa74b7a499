import ApusAPI
import Foundation

/// Clones: a new VM with the template's definition under a new name, each writable disk replaced by a fresh qcow2
/// overlay (in the clone directory) over the template's image; read-only disks are shared as they are.
extension VMRegistry {
    /// Makes the clone and records a `cloned` event. The template must be inactive (its images are then consistent)
    /// and stays locked against lifecycle operations while the overlays are made. Nothing is left behind on failure:
    /// overlays made so far are removed, and the record is written last.
    func clone(_ template: VMController, as name: String, operationID: String) async throws -> VMController {
        if let problem = VMDefinition.problem(withName: name) { throw DaemonError.badRequest(problem) }
        try controllers.withLock { controllers in
            guard !controllers.values.contains(where: { $0.name == name }) else { throw DaemonError.nameTaken(name) }
        }
        let id = UUID().uuidString.lowercased()
        let controller = try await template.exclusivelyInactive(
            "clone", why: "a template is cloned while inactive, so its disk images are consistent; stop it first"
        ) { record in
            try self.makeClone(of: record, id: id, name: name)
        }
        events.record(vm: id, name: name, kind: .cloned, state: .inactive,
                      reason: "cloned from '\(template.name)'", operation: operationID)
        logger.info("VM \(name) cloned from \(template.name)", metadata: ["vm": "\(id)"])
        return controller
    }

    private func makeClone(of template: VMRecord, id: String, name: String) throws -> VMController {
        var definition = template.definition
        definition.name = name
        var overlays: [String] = []
        var bases: [String] = []
        do {
            for (index, disk) in template.definition.disks.enumerated() where !disk.readOnly {
                let base: DiskPolicy.Checked
                do {
                    base = try boot.disks.check(disk, index: index, ownedOverlays: template.clone?.overlays ?? [])
                } catch {
                    throw DaemonError.unprocessable("cannot clone VM '\(template.definition.name)': \(error)")
                }
                let overlay = boot.disks.clonesDirectory + "/\(id).disk\(index).qcow2"
                try CloneOverlay.create(at: overlay, base: base.path, baseFormat: base.format)
                overlays.append(overlay)
                bases.append(base.path)
                definition.disks[index].path = overlay
            }
            let origin = CloneOrigin(template: template.id, overlays: overlays, bases: bases)
            let record = VMRecord(id: id, definition: definition, state: .inactive,
                                  reason: "cloned from '\(template.definition.name)'", since: Date(), clone: origin)
            let controller = makeController(for: record)
            try controllers.withLock { controllers in
                guard !controllers.values.contains(where: { $0.name == name }) else { throw DaemonError.nameTaken(name) }
                try store.save(record)
                controllers[id] = controller
                clones.register(id: id, name: name, origin: origin)
            }
            return controller
        } catch {
            CloneOverlay.remove(overlays)
            throw error
        }
    }
}
