process.env.DB = 'mysql';
