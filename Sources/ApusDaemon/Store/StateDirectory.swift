import ApusVMM
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The daemon's state directory:
///
///     <root>/apusd.lock            held while a daemon runs
///     <root>/vms/<id>/vm.json      definition and last state (VMRecord), replaced atomically
///     <root>/vms/<id>/suspended/   a suspended VM's machine state and memory (written by Machine.suspend)
///     <root>/clones/<id>.disk<N>.qcow2  a clone's copy-on-write overlays (CloneOverlay), deleted with the clone
///
/// Every write goes through a temporary file, fsync and rename (DurableFile), so `kill -9` at any moment leaves the
/// previous file or the new one.
struct StateDirectory: Sendable {
    let root: String
    var vmsDirectory: String { root + "/vms" }
    var lockPath: String { root + "/apusd.lock" }
    var clonesDirectory: String { root + "/clones" }

    init(root: String) throws {
        self.root = root
        for directory in [root, root + "/vms", root + "/clones"] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw DaemonError.internal("cannot create state directory \(directory): \(error.localizedDescription)")
            }
        }
    }

    func directory(of id: String) -> String { vmsDirectory + "/" + id }
    func savedStateDirectory(of id: String) -> String { directory(of: id) + "/suspended" }
    private func recordPath(of id: String) -> String { directory(of: id) + "/vm.json" }

    /// `durable: false` for pause and resume: recovery treats active and paused alike, so those need no fsync.
    func save(_ record: VMRecord, durable: Bool = true) throws {
        let directory = directory(of: record.id)
        do {
            if !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false,
                                                        attributes: [.posixPermissions: 0o700])
                try DurableFile.syncDirectory(of: directory)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try DurableFile.replace(recordPath(of: record.id), with: try encoder.encode(record), durable: durable)
        } catch let error as SnapshotError {
            throw Self.storageError(error, writing: "VM '\(record.definition.name)'")
        } catch {
            throw DaemonError.internal("cannot save VM '\(record.definition.name)': \(error)")
        }
    }

    /// Every record on disk; unreadable ones are reported, left in place for an operator, and skipped.
    func loadAll() -> (records: [VMRecord], problems: [String]) {
        var records: [VMRecord] = []
        var problems: [String] = []
        let names = (try? FileManager.default.contentsOfDirectory(atPath: vmsDirectory)) ?? []
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        for name in names.sorted() where !name.hasPrefix(".") {
            let path = recordPath(of: name)
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append("\(directory(of: name)) has no readable vm.json; skipped")
                continue
            }
            do {
                let record = try decoder.decode(VMRecord.self, from: data)
                guard record.id == name, record.formatVersion == VMRecord.formatVersion else {
                    problems.append("\(path) does not describe VM \(name) in format \(VMRecord.formatVersion); skipped")
                    continue
                }
                records.append(record)
            } catch {
                problems.append("\(path) is not a VM record (\(error)); skipped")
            }
        }
        return (records, problems)
    }

    /// Removes a VM's directory: renamed aside first (one atomic step), then deleted, so a crash midway never leaves
    /// a half-deleted VM that would be listed again.
    func remove(_ id: String) throws {
        let aside = vmsDirectory + "/.deleted-\(id)-\(UInt32.random(in: 0...UInt32.max))"
        guard rename(directory(of: id), aside) == 0 else {
            throw DaemonError.internal("cannot remove \(directory(of: id)): \(String(cString: strerror(errno)))")
        }
        try? DurableFile.syncDirectory(of: aside)
        try? FileManager.default.removeItem(atPath: aside)
    }

    func removeSavedState(of id: String) {
        try? FileManager.default.removeItem(atPath: savedStateDirectory(of: id))
        try? DurableFile.syncDirectory(of: savedStateDirectory(of: id))
    }

    /// Leftovers of an earlier crash: directories renamed for deletion and temporary files never renamed into place.
    func sweepLeftovers() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: vmsDirectory)) ?? []
        for name in names where name.hasPrefix(".deleted-") {
            try? FileManager.default.removeItem(atPath: vmsDirectory + "/" + name)
        }
        for name in names where !name.hasPrefix(".") {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory(of: name))) ?? []
            for file in files where file.contains(".tmp-") {
                unlink(directory(of: name) + "/" + file)
            }
        }
    }

    /// Removes from the clone directory every file no record refers to: temporary overlays never renamed into
    /// place, and overlays whose clone's record was never written (a crash while cloning) or was deleted (a crash
    /// while undefining). `referenced` holds the canonical paths of every record's overlays.
    func sweepOverlays(keeping referenced: Set<String>) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: clonesDirectory)) ?? []
        let canonicalDirectory = ImageRoots.resolve(clonesDirectory) ?? clonesDirectory
        var removed: [String] = []
        for name in names where !referenced.contains(canonicalDirectory + "/" + name) {
            if unlink(clonesDirectory + "/" + name) == 0 { removed.append(name) }
        }
        if !removed.isEmpty { try? DurableFile.syncDirectory(of: clonesDirectory + "/.") }
        return removed
    }

    /// ENOSPC and EDQUOT become 507 with the path; other I/O errors 500.
    static func storageError(_ error: SnapshotError, writing what: String) -> DaemonError {
        if case .io(_, _, let code) = error, code == ENOSPC || code == EDQUOT {
            return .insufficientStorage("not enough disk space to save \(what): \(error)")
        }
        return .internal("cannot save \(what): \(error)")
    }
}
