import Synchronization

/// Which VMs are clones, of which template, reading which images. The registry keeps it current (recovery, clone,
/// rename, undefine); controllers ask it before an operation that would break clones: writing a template's image,
/// changing a template's disks, undefining a template.
final class CloneLedger: Sendable {
    private struct Entry {
        var name: String
        var origin: CloneOrigin
    }

    private let entries = Mutex<[String: Entry]>([:])

    func register(id: String, name: String, origin: CloneOrigin) {
        entries.withLock { $0[id] = Entry(name: name, origin: origin) }
    }

    func rename(id: String, to name: String) {
        entries.withLock { $0[id]?.name = name }
    }

    func remove(id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }

    /// Names of the clones of `template` (an id), sorted.
    func clones(of template: String) -> [String] {
        entries.withLock { $0.values.filter { $0.origin.template == template }.map(\.name) }.sorted()
    }

    /// Names of the clones whose overlays read from any of `paths` (canonical), sorted.
    func clones(readingFrom paths: [String]) -> [String] {
        guard !paths.isEmpty else { return [] }
        return entries.withLock { entries in
            entries.values.filter { !Set($0.origin.bases).isDisjoint(with: paths) }.map(\.name)
        }.sorted()
    }

    /// Every clone's overlays (canonical paths).
    var overlays: Set<String> {
        entries.withLock { Set($0.values.flatMap(\.origin.overlays)) }
    }

    static func list(_ names: [String]) -> String {
        names.map { "'\($0)'" }.joined(separator: ", ")
    }
}
