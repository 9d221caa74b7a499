public enum ApusGuestsPlaceholder {}
