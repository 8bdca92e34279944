namespace Skein.Identity;
