using Skein.Bookstore;

return await BookstoreHost.RunAsync(args);
