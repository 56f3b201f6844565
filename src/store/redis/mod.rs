mod messages;

pub use messages::RedisMessages;
