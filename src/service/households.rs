//! Adopter households: registering and changing a household, its recruitment stages and
//! its matching profile.
