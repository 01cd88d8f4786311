process.env.DB = 'sqlite';
