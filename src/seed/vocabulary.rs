//! The word lists the seeds draw on. Every name here is invented: first names are words
//! and unusual forenames, surnames are made up so that no seeded record can be mistaken for
//! a real person, and places are fictional.
use crate::domain::Ethnicity;

/// First names for children and applicants.
pub const FIRST_NAMES: &[&str] = &[
    "Acorn", "Bramble", "Clover", "Dusk", "Ember", "Fennel", "Glade", "Heron", "Indigo", "Juniper",
    "Kestrel", "Linden", "Meadow", "Nettle", "Onyx", "Pebble", "Quill", "Rowan", "Sorrel", "Tansy",
    "Umber", "Vetch", "Willow", "Yarrow", "Zephyr", "Alder", "Bryony", "Cobalt", "Dune", "Esker",
    "Flint", "Gorse", "Hollis", "Isla", "Jasper", "Kelp", "Lark", "Marram", "Nimbus", "Orchid",
    "Pippin", "Quartz", "Reed", "Saffron", "Thistle", "Umbra", "Vale", "Wren", "Xylo", "Yew",
];

/// Surnames, all invented.
pub const SURNAMES: &[&str] = &[
    "Fablewick",
    "Inventon",
    "Madeupton",
    "Mockford",
    "Samplewell",
    "Placeholm",
    "Fictley",
    "Pretendale",
    "Storybrook",
    "Sketchley",
    "Dummerly",
    "Notreal",
    "Imaginby",
    "Draftwood",
    "Testcombe",
    "Exampleby",
    "Figmentham",
    "Fancourt-Nil",
    "Makebury",
    "Whimsey-Oak",
    "Synthfield",
    "Seedsworth",
    "Likewise",
    "Notionby",
];

/// Words for the shareable profile names of children ("Sunny Otter").
pub const CHILD_PROFILE_ADJECTIVES: &[&str] = &[
    "Sunny", "Brave", "Giggly", "Curious", "Gentle", "Bouncy", "Cheerful", "Clever", "Dreamy",
    "Lively", "Busy", "Bright", "Cosy", "Merry", "Sparky", "Quiet",
];

/// Animals for the shareable profile names of children.
pub const CHILD_PROFILE_ANIMALS: &[&str] = &[
    "Otter", "Fox", "Robin", "Badger", "Hedgehog", "Owl", "Puffin", "Squirrel", "Hare", "Wren",
    "Kitten", "Panda", "Seal", "Lamb", "Duckling", "Pony",
];

/// Second words of household profile names ("Household Rowan").
pub const HOUSEHOLD_PROFILE_NAMES: &[&str] = &[
    "Rowan",
    "Hawthorn",
    "Beech",
    "Hazel",
    "Larch",
    "Maple",
    "Poplar",
    "Spruce",
    "Sycamore",
    "Aspen",
    "Cherry",
    "Juniper",
    "Laurel",
    "Magnolia",
    "Olive",
    "Holly",
    "Elder",
    "Bay",
    "Myrtle",
    "Cypress",
    "Acacia",
    "Birchwood",
    "Cedar",
    "Walnut",
];

/// Invented streets for applicants' addresses.
pub const STREETS: &[&str] = &[
    "Imaginary Lane",
    "Example Road",
    "Fictional Close",
    "Makebelieve Avenue",
    "Notional Street",
    "Pretend Place",
    "Sample Crescent",
    "Placeholder Way",
    "Mock Terrace",
    "Dummy Row",
];

/// Invented towns.
pub const TOWNS: &[&str] = &[
    "Nowhereton",
    "Sampleford",
    "Fabletown",
    "Mockbury",
    "Fictionham",
    "Draftley",
    "Testington",
    "Exampleworth",
];

/// Things children love, for profile texts.
pub const CHILD_ACTIVITIES: &[&str] = &[
    "splashing in puddles",
    "building towers of blocks",
    "stories at bedtime",
    "dancing to music",
    "feeding the ducks",
    "drawing with chalk",
    "playing football",
    "dinosaurs",
    "trains",
    "helping in the kitchen",
    "the swings at the park",
    "making dens",
    "painting",
    "bubbles",
];

/// Sentences about a child's character, for profile texts.
pub const CHILD_TRAITS: &[&str] = &[
    "Settles quickly with a familiar routine.",
    "Has a big smile for everyone they meet.",
    "Is cautious with new people at first and warms up with patience.",
    "Loves a cuddle after nursery.",
    "Is very determined and proud of new skills.",
    "Enjoys being outdoors whatever the weather.",
    "Needs reassurance at transitions and responds well to it.",
];

/// Things households enjoy, for profile texts.
pub const HOUSEHOLD_ACTIVITIES: &[&str] = &[
    "long walks with their dog",
    "gardening",
    "camping",
    "cooking together",
    "cycling",
    "visiting museums",
    "making music",
    "swimming",
    "board games",
    "allotment days",
];

/// Coded identity considerations and the ethnicity category they usually go with.
#[derive(Clone, Copy, Debug)]
pub struct IdentityProfile {
    pub ethnicity: Ethnicity,
    pub religion: Option<&'static str>,
    pub language: Option<&'static str>,
    pub culture: Option<&'static str>,
    /// Relative frequency.
    pub weight: u32,
}

const fn identity(
    ethnicity: Ethnicity,
    religion: Option<&'static str>,
    language: Option<&'static str>,
    culture: Option<&'static str>,
    weight: u32,
) -> IdentityProfile {
    IdentityProfile {
        ethnicity,
        religion,
        language,
        culture,
        weight,
    }
}

/// Identity profiles with rough weights for a West Midlands population of children in care.
pub const IDENTITIES: &[IdentityProfile] = &[
    identity(Ethnicity::WhiteBritish, None, None, None, 46),
    identity(Ethnicity::WhiteBritish, Some("CHRISTIAN"), None, None, 10),
    identity(
        Ethnicity::WhiteOther,
        Some("CATHOLIC"),
        Some("POLISH"),
        Some("POLISH"),
        4,
    ),
    identity(
        Ethnicity::WhiteOther,
        Some("ORTHODOX"),
        Some("ROMANIAN"),
        Some("ROMANIAN"),
        2,
    ),
    identity(Ethnicity::WhiteOther, None, Some("ROMANI"), Some("ROMA"), 1),
    identity(
        Ethnicity::WhiteOther,
        Some("CATHOLIC"),
        None,
        Some("IRISH_TRAVELLER"),
        1,
    ),
    identity(Ethnicity::Mixed, None, None, Some("BLACK_CARIBBEAN"), 8),
    identity(Ethnicity::Mixed, Some("MUSLIM"), None, Some("PAKISTANI"), 2),
    identity(
        Ethnicity::Asian,
        Some("MUSLIM"),
        Some("URDU"),
        Some("PAKISTANI"),
        6,
    ),
    identity(
        Ethnicity::Asian,
        Some("MUSLIM"),
        Some("BENGALI"),
        Some("BANGLADESHI"),
        2,
    ),
    identity(
        Ethnicity::Asian,
        Some("SIKH"),
        Some("PUNJABI"),
        Some("INDIAN"),
        2,
    ),
    identity(
        Ethnicity::Asian,
        Some("HINDU"),
        Some("GUJARATI"),
        Some("INDIAN"),
        1,
    ),
    identity(
        Ethnicity::Black,
        Some("CHRISTIAN"),
        None,
        Some("BLACK_CARIBBEAN"),
        4,
    ),
    identity(
        Ethnicity::Black,
        Some("MUSLIM"),
        Some("SOMALI"),
        Some("SOMALI"),
        2,
    ),
    identity(
        Ethnicity::Black,
        Some("CHRISTIAN"),
        Some("TIGRINYA"),
        Some("ERITREAN"),
        1,
    ),
    identity(
        Ethnicity::Other,
        Some("MUSLIM"),
        Some("ARABIC"),
        Some("ARAB"),
        2,
    ),
    identity(
        Ethnicity::Other,
        Some("MUSLIM"),
        Some("KURDISH"),
        Some("KURDISH"),
        1,
    ),
    identity(Ethnicity::NotRecorded, None, None, None, 5),
];
