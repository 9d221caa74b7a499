/// What makes a VM a clone: the template it came from and the overlays apusd made for it. Kept in the clone's
/// record, so the template's protection and the overlays' ownership survive a daemon restart.
struct CloneOrigin: Codable, Sendable, Equatable {
    /// The template's id.
    var template: String
    /// Canonical paths of the overlays made for this clone (in the clone directory); deleted with the clone.
    var overlays: [String]
    /// Canonical paths of the template images those overlays read from: no VM may write them while this clone exists.
    var bases: [String]
}
